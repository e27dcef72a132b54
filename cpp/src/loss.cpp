// The name -> loss factory: the registry, filled by the headers that losses/all.hpp includes
// (each loss's implementation lives in its header).
#include "chainrule/loss.hpp"

#include "chainrule/losses/all.hpp"

namespace chainrule {

std::vector<std::string> loss_names() { return LossRegistry::instance().names(true); }

template <class T>
std::unique_ptr<Loss<T>> make_loss(const std::string& name, const NamedParams& params) {
  return LossRegistry::instance().make<T>(name, params);
}

template std::unique_ptr<Loss<float>> make_loss<float>(const std::string&, const NamedParams&);
template std::unique_ptr<Loss<double>> make_loss<double>(const std::string&, const NamedParams&);

}  // namespace chainrule
