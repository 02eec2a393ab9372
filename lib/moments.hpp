// moments.hpp — everything a program needs: tensors, autograd, ops, random numbers, layers.
#pragma once
#include "autograd.hpp"
#include "error.hpp"
#include "nn.hpp"
#include "ops.hpp"
#include "random.hpp"
#include "tensor.hpp"
