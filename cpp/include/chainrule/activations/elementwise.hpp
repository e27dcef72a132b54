// Base for element-wise activations: a derived class defines
//   static const EntryInfo& entry()   its registry entry (name, class name, parameters)
//   T f(T z) const                    the function, h = f(z)
//   T df(T z, T h) const              its derivative f'(z), given z and h = f(z) (use h
//                                     where cheaper)
// and this base turns them into vectorisable forward and backward loops, name and repr.
#pragma once

#include <sstream>

#include "chainrule/activation.hpp"
#include "chainrule/kernels/elementwise.hpp"

namespace chainrule {

template <class T, class Derived>
class ElementwiseActivation : public Activation<T> {
 public:
  std::string name() const override { return Derived::entry().name; }
  std::string repr() const override {
    std::ostringstream os;
    os << Derived::entry().class_name << "(";
    const auto ps = this->params();
    for (std::size_t i = 0; i < ps.size(); ++i)
      os << (i ? ", " : "") << ps[i].first << "=" << shortest_repr(ps[i].second);
    os << ")";
    return os.str();
  }

  bool elementwise() const override { return true; }

  // (rows, cols) blocks of stride ld: Z += b, H = f(Z)
  void bias_forward_block(Index rows, Index cols, const T* b, T* Z, T* H, Index ld) const override {
    const Derived self = static_cast<const Derived&>(*this);
    kernels::bias_map_block(rows, cols, b, Z, H, ld, [self](T z) { return self.f(z); });
  }
  // (rows, cols) blocks: dZ = dH * f'(Z)
  void backward_block(Index rows, Index cols, const T* Z, const T* H, const T* dH, Index ld_dh,
                      T* dZ, Index ld) const override {
    const Derived self = static_cast<const Derived&>(*this);
    kernels::chain_block(rows, cols, Z, H, dH, ld_dh, dZ, ld,
                         [self](T z, T h) { return self.df(z, h); });
  }

 private:
  // Z (m, n) -> H (m, n)
  void forward_impl(ConstView<T> Z, MatrixView<T> H) const override {
    // a copy of the activation (its parameters) in the closure: the loop then reads no memory
    // that its own stores could alias, and vectorises
    const Derived self = static_cast<const Derived&>(*this);
    kernels::map(Z.size(), Z.data, H.data, [self](T z) { return self.f(z); });
  }
  // Z, H, dH (m, n) -> dZ (m, n): dZ = dH * f'(Z)
  void backward_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> dH,
                     MatrixView<T> dZ) const override {
    const Derived self = static_cast<const Derived&>(*this);
    kernels::chain(Z.size(), Z.data, H.data, dH.data, dZ.data,
                   [self](T z, T h) { return self.df(z, h); });
  }
};

}  // namespace chainrule
