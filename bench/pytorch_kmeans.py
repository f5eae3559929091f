#!/usr/bin/python3
"""Baseline for bench/bench_kmeans.cpp: scikit-learn MiniBatchKMeans exactly as fairseq's learn_kmeans.py builds
it (init k-means++, max_iter 100, batch_size 10000, tol 0, max_no_improvement 100, reassignment_ratio 0,
init_size None, compute_labels False), fit on the same float32 features, threads limited to --threads.

Prints one JSON object: median fit seconds over --repeats seeds, the per-run seconds and steps, and the mean and
standard deviation over seeds of the inertia per frame (-score(X) / n, which is how learn_kmeans.py reports it).

  /usr/bin/python3 bench/pytorch_kmeans.py --data /tmp/hubmamba_kmeans_bench.npy --k 100 --n-init 3 --threads 2
"""
import argparse
import json
import statistics
import time

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from threadpoolctl import threadpool_limits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=10000)
    ap.add_argument("--n-init", type=int, default=20)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--max-no-improvement", type=int, default=100, help="0: disabled (None)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    x = np.load(a.data)
    assert x.dtype == np.float32 and x.ndim == 2, (x.dtype, x.shape)
    times, steps, inertias = [], [], []
    with threadpool_limits(limits=a.threads):  # OpenMP (sklearn's Cython loops) and BLAS
        for seed in range(a.repeats):
            km = MiniBatchKMeans(n_clusters=a.k, init="k-means++", max_iter=a.max_iter, batch_size=a.batch_size,
                                 verbose=0, compute_labels=False, tol=0.0,
                                 max_no_improvement=a.max_no_improvement or None, init_size=None,
                                 n_init=a.n_init, reassignment_ratio=0.0, random_state=seed)
            t0 = time.perf_counter()
            km.fit(x)
            times.append(time.perf_counter() - t0)
            steps.append(int(km.n_steps_))
            inertias.append(float(-km.score(x) / len(x)))
    print(json.dumps({"impl": "sklearn", "threads": a.threads, "median_s": statistics.median(times),
                      "times_s": times, "steps": steps, "median_steps": statistics.median(steps), "mean_inertia": statistics.mean(inertias),
                      "sd_inertia": statistics.pstdev(inertias),
                      "inertia_per_frame": inertias}))


if __name__ == "__main__":
    main()
