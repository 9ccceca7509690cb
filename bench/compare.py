#!/usr/bin/python3
"""compare.py NET... - run by bench/peers.sh: ROUNDS rounds, each running
every engine on every net once (ours: build/bench/fcn_bench; peers:
bench/peers.py in build/peers), best time per cell over the rounds, then a
markdown table of ms/image, peak RSS and ratios (peer time / our time: > 1
means we are faster).  Environment: ITERS (per run, default 5), ROUNDS (3),
THREADS (2), MODES ("infer train"; "infer" skips the training steps),
BATCHES (images a pass, "1"; "1 8" gives each net a row per batch; the
table's times are per image)."""
import os
import subprocess
import sys

ITERS = os.environ.get("ITERS", "5")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
THREADS = os.environ.get("THREADS", "2")
MODES = os.environ.get("MODES", "infer train").split()
BATCHES = os.environ.get("BATCHES", "1").split()
PY = "build/peers/bin/python"
NETS = {"unet16": ("bench/unet16.prototxt", "1"), "unet32": ("bench/unet32.prototxt", "1"),
        "fcn-alexnet": ("nets/fcn-alexnet.prototxt", "3"),
        "fcn-8s": ("nets/fcn-8s.prototxt", "3")}


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    if p.returncode:
        sys.exit("compare.py: %s failed" % " ".join(cmd))
    return dict(l.split("=", 1) for l in p.stdout.split() if "=" in l)


def main():
    nets = sys.argv[1:]
    best = {}

    def note(key, sec, rss):
        old = best.get(key)
        if not old or sec < old[0]:
            best[key] = (sec, max(rss, old[1]) if old else rss)
        elif old:
            best[key] = (old[0], max(rss, old[1]))

    for r in range(ROUNDS):
        for n in nets:
            path, c = NETS[n]
            for b in BATCHES:
                for mode in MODES:
                    d = run(["build/bench/fcn_bench", path, b, c, "256", "256", ITERS,
                             THREADS, mode])
                    key = "forward_s" if mode == "infer" else "train_s"
                    note((n, b, "ours", mode), float(d[key]) / int(b), float(d["peak_rss_mb"]))
                    d = run([PY, "bench/peers.py", "torch", n, ITERS, THREADS, mode, b])
                    note((n, b, "torch", mode), float(d[key]) / int(b), float(d["peak_rss_mb"]))
                for e in ("ort", "openvino") if "infer" in MODES else ():
                    d = run([PY, "bench/peers.py", e, n, ITERS, THREADS, "infer", b])
                    note((n, b, e, "infer"), float(d["forward_s"]) / int(b),
                         float(d["peak_rss_mb"]))
            print("# round %d %s done, load %s" % (r + 1, n, open("/proc/loadavg").read().split()[0]),
                  file=sys.stderr, flush=True)
    cell = lambda k: "%.1f (%.0f MB)" % (1e3 * best[k][0], best[k][1]) if k in best else "-"
    ratio = lambda a, b: "%.2f" % (best[b][0] / best[a][0]) if a in best and b in best else "-"
    print("threads %s, best of %s x %d rounds, ms/image (peak RSS); ratio = peer / ours"
          % (THREADS, ITERS, ROUNDS))
    print()
    print("| net | batch | ours infer | ORT | OpenVINO | PyTorch infer | vs ORT | vs OV"
          " | vs PyTorch | ours train | PyTorch train | vs PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in nets:
        for b in BATCHES:
            k = lambda e, mode="infer": (n, b, e, mode)
            o = k("ours")
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                n, b, cell(o), cell(k("ort")), cell(k("openvino")), cell(k("torch")),
                ratio(o, k("ort")), ratio(o, k("openvino")), ratio(o, k("torch")),
                cell(k("ours", "train")), cell(k("torch", "train")),
                ratio(k("ours", "train"), k("torch", "train"))))

if __name__ == "__main__":
    main()
