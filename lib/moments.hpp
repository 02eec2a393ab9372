// moments.hpp — everything a program needs: tensors, autograd, ops, random numbers, layers, optimizers.
#pragma once
#include "autograd.hpp"
#include "data/datasets.hpp"
#include "error.hpp"
#include "nn.hpp"
#include "ops.hpp"
#include "random.hpp"
#include "tensor.hpp"
#include "optim/adafactor.hpp"
#include "optim/adam.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
