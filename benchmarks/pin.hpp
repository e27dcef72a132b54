// Pinning the calling thread to one CPU, for the machine probes (pingpong.cpp, readrate.cpp),
// which are compiled on their own at run time (benchmarks/peak.py).
#pragma once

#include <pthread.h>
#include <sched.h>

/// Pins the calling thread to CPU `cpu`; false when the system refuses.
inline bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}
