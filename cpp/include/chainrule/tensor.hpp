// Row-major matrices: MatrixView (non-owning, contiguous rows) and Matrix (owning, 64-byte
// aligned, grows only when a larger shape is asked for, so per-step resizes never allocate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace chainrule {

using Index = std::ptrdiff_t;

/// A (rows, cols) row-major view; row i starts at data + i * cols.
template <class T>
struct MatrixView {
  T* data = nullptr;
  Index rows = 0;
  Index cols = 0;

  MatrixView() = default;
  MatrixView(T* d, Index r, Index c) : data(d), rows(r), cols(c) {}
  // A view of T converts to a view of const T.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T>>>
  MatrixView(const MatrixView<U>& o) : data(o.data), rows(o.rows), cols(o.cols) {}

  Index size() const { return rows * cols; }
  T& operator()(Index i, Index j) const { return data[i * cols + j]; }
  T* row(Index i) const { return data + i * cols; }
  /// Rows [begin, begin + count) as a view.
  MatrixView row_range(Index begin, Index count) const {
    return MatrixView(data + begin * cols, count, cols);
  }
};

template <class T>
using ConstView = MatrixView<const T>;

/// "(3, 4)" for error messages.
inline std::string shape_str(Index rows, Index cols) {
  return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}
template <class T>
std::string shape_str(const MatrixView<T>& v) {
  return shape_str(v.rows, v.cols);
}

/// Allocates `bytes` (rounded up to 64) aligned to 64 bytes; throws std::bad_alloc. Every
/// buffer of the core comes from here, so aligned_allocation_count() sees them all.
void* aligned_allocate(std::size_t bytes);
/// Frees what aligned_allocate returned (nullptr is fine).
void aligned_free(void* p) noexcept;
/// How many aligned_allocate calls this process has made (the tests' allocation hook).
std::size_t aligned_allocation_count() noexcept;

namespace detail {
struct AlignedFree {
  void operator()(void* p) const noexcept { aligned_free(p); }
};
}  // namespace detail

/// An owning row-major matrix whose storage is 64-byte aligned and zero-initialised.
/// resize() keeps the allocation when the new shape fits in the capacity.
template <class T>
class Matrix {
 public:
  Matrix() = default;
  Matrix(Index rows, Index cols) { resize(rows, cols); }
  Matrix(const Matrix& o) : Matrix(o.rows_, o.cols_) {
    for (Index i = 0; i < size(); ++i) data_[i] = o.data_[i];
  }
  Matrix& operator=(const Matrix& o) {
    if (this != &o) {
      resize(o.rows_, o.cols_);
      for (Index i = 0; i < size(); ++i) data_[i] = o.data_[i];
    }
    return *this;
  }
  Matrix(Matrix&& o) noexcept { *this = std::move(o); }
  /// Takes o's storage; o is left empty (0 x 0, no capacity).
  Matrix& operator=(Matrix&& o) noexcept {
    if (this != &o) {
      storage_ = std::move(o.storage_);
      data_ = o.data_;
      rows_ = o.rows_;
      cols_ = o.cols_;
      capacity_ = o.capacity_;
      o.data_ = nullptr;
      o.rows_ = o.cols_ = o.capacity_ = 0;
    }
    return *this;
  }

  /// Reshape to (rows, cols); allocates only when rows * cols exceeds the capacity.
  void resize(Index rows, Index cols) {
    // rows * cols * sizeof(T) must not overflow: a wrapped size would allocate a small block
    // and the zero-fill below would write far past it
    if (rows < 0 || cols < 0 ||
        (cols > 0 && rows > static_cast<Index>(PTRDIFF_MAX / static_cast<Index>(sizeof(T))) / cols))
      throw std::bad_alloc();
    const Index n = rows * cols;
    if (n > capacity_) {
      void* p = aligned_allocate(static_cast<std::size_t>(n) * sizeof(T));
      storage_.reset(p);
      data_ = static_cast<T*>(p);
      for (Index i = 0; i < n; ++i) data_[i] = T(0);
      capacity_ = n;
    }
    rows_ = rows;
    cols_ = cols;
  }

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index size() const { return rows_ * cols_; }
  Index capacity() const { return capacity_; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator()(Index i, Index j) { return data_[i * cols_ + j]; }
  const T& operator()(Index i, Index j) const { return data_[i * cols_ + j]; }

  MatrixView<T> view() { return MatrixView<T>(data_, rows_, cols_); }
  ConstView<T> view() const { return ConstView<T>(data_, rows_, cols_); }
  ConstView<T> cview() const { return view(); }

 private:
  std::unique_ptr<void, detail::AlignedFree> storage_;
  T* data_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
  Index capacity_ = 0;
};

}  // namespace chainrule
