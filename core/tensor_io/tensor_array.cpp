#include "tensor_io/tensor_array.h"

#include <cstring>

#include "common/error.h"

namespace dlab {

Array array_from_tensor(const std::string& name, const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
  Array a;
  a.name = name;
  a.shape.assign(c.sizes().begin(), c.sizes().end());
  switch (c.scalar_type()) {
    case torch::kFloat32:
      a.dtype = DType::F32;
      break;
    case torch::kFloat64:
      a.dtype = DType::F64;
      break;
    case torch::kInt64:
      a.dtype = DType::I64;
      break;
    case torch::kUInt8:
      a.dtype = DType::U8;
      break;
    default:
      throw Error("cannot store tensor '" + name + "' of dtype " +
                  std::string(c10::toString(c.scalar_type())));
  }
  const size_t n = size_t(c.numel()) * c.element_size();
  a.bytes.resize(n);
  if (n) std::memcpy(a.bytes.data(), c.data_ptr(), n);
  return a;
}

torch::Tensor tensor_from_array(const Array& a) {
  torch::ScalarType type = torch::kFloat32;
  switch (a.dtype) {
    case DType::F32:
      type = torch::kFloat32;
      break;
    case DType::F64:
      type = torch::kFloat64;
      break;
    case DType::I64:
      type = torch::kInt64;
      break;
    case DType::U8:
      type = torch::kUInt8;
      break;
  }
  torch::Tensor t = torch::empty(a.shape, torch::TensorOptions().dtype(type));
  const size_t n = size_t(t.numel()) * t.element_size();
  if (n != a.bytes.size()) {
    throw Error("array '" + a.name + "' holds " + std::to_string(a.bytes.size()) +
                " bytes, its shape needs " + std::to_string(n));
  }
  if (n) std::memcpy(t.data_ptr(), a.bytes.data(), n);
  return t;
}

}  // namespace dlab
