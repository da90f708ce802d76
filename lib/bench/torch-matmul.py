#!/usr/bin/python3
"""PyTorch baseline for `npm run bench:ops`: the three products of a matmul's
forward and backward (C = A B, dA = dC B^T, dB = A^T dC) for each (M, K, N),
median seconds over --reps runs after one warm-up, printed as JSON.
Needs Debian's python3-torch and libopenblas0-pthread."""
import argparse, ctypes, glob, json, statistics, time
import torch

def set_threads(n):
    # torch.set_num_threads does not reach OpenBLAS in Debian's build; set both.
    torch.set_num_threads(n)
    for path in glob.glob('/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas*.so*') + glob.glob('/usr/lib/x86_64-linux-gnu/libopenblas*.so*'):
        try:
            ctypes.CDLL(path).openblas_set_num_threads(n)
            return
        except (OSError, AttributeError):
            continue

def median_seconds(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--shapes', required=True, help='JSON list of [M, K, N]')
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for M, K, N in json.loads(args.shapes):
        a, b, g = torch.randn(M, K), torch.randn(K, N), torch.randn(M, N)
        rows.append({
            'shape': [M, K, N],
            'forward': median_seconds(lambda: a @ b, args.reps),
            'gradA': median_seconds(lambda: g @ b.t(), args.reps),
            'gradB': median_seconds(lambda: a.t() @ g, args.reps),
        })
    print(json.dumps({'torch': torch.__version__, 'threads': args.threads, 'rows': rows}))

if __name__ == '__main__':
    main()
