// The kind -> layer factory: the registry, filled by the headers that layers/all.hpp includes.
#include "chainrule/layer.hpp"

#include <string>

#include "chainrule/layers/all.hpp"

namespace chainrule {

template <class T>
std::unique_ptr<Layer<T>> make_layer(LayerSpec<T> spec, Index index, Index n_in) {
  const LayerRegistry& registry = LayerRegistry::instance();
  std::unique_ptr<Layer<T>> layer;
  with_layer_context(index, [&] {
    const EntryInfo& info = registry.info(spec.kind);
    const bool takes = info.flag("activation");
    if (takes && !spec.activation)
      throw ValueError("a " + info.class_name + " layer needs an activation");
    if (!takes && spec.activation)
      throw ValueError("a " + info.class_name + " layer takes no activation, got " +
                       spec.activation->repr());
    LayerArgs<T> args;
    args.index = index;
    args.n_in = n_in;
    args.activation = std::move(spec.activation);
    layer = registry.make<T>(spec.kind, spec.params, std::move(args));
  });
  return layer;
}

template std::unique_ptr<Layer<float>> make_layer<float>(LayerSpec<float>, Index, Index);
template std::unique_ptr<Layer<double>> make_layer<double>(LayerSpec<double>, Index, Index);

}  // namespace chainrule
