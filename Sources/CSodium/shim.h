#ifndef SOUK_CSODIUM_SHIM_H
#define SOUK_CSODIUM_SHIM_H
#include <sodium.h>
#endif
