// each(count, order, threads, f): f(order[t]) for every t, tensors shared out largest first. Built with -fopenmp
// the work runs on torch's own OpenMP threads: the runtime is the one torch loaded, and its threads are still
// awake after backward; without OpenMP, on threads of its own.
#pragma once
#include <atomic>
#include <thread>
#include <vector>

template <class F> void each(int count, const int* order, int threads, F f) {
  std::atomic<int> next{0};
  auto work = [&] { for (int t; (t = next++) < count;) f(order[t]); };
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  work();
#else
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
#endif
}
