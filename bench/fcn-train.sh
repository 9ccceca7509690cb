#!/bin/sh
# fcn-train.sh [N] - end-to-end speed and memory of fcn-train and fcn-predict
# on FCN-AlexNet (nets/fcn-alexnet.prototxt, 1x256x256, batch 1, THREADS=2
# threads), against the same net, loss and SGD update in PyTorch 1.13 in the
# same run.  N synthetic images (default 8).  Prints key=value lines:
# images/s of training (one epoch, from fcn-train's log) and of prediction
# (wall time of the whole fcn-predict run, model loading included), peak RSS
# of each process (GNU time), and ours/PyTorch ratios (> 1: we are faster or
# use more memory).
set -eu
cd "$(dirname "$0")/.."
N=${1:-8}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
NET=nets/fcn-alexnet.prototxt
B=$PWD/bin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
make -s bin/fcn-train bin/fcn-predict >&2
"$PYTHON" tests/ref/numpy_fcn_data.py "$T/data.st" "$N" 256 256 1

peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }

/usr/bin/time -v -o "$T/train.time" "$B/fcn-train" --net $NET --train "$T/data.st" \
	--epochs 1 --lr 1e-4 --threads "$THREADS" -o "$T/m.fcn" >"$T/train.tsv" 2>/dev/null
train_ips=$(sed -n 2p "$T/train.tsv" | cut -f8)
start=$(date +%s.%N)
/usr/bin/time -v -o "$T/pred.time" "$B/fcn-predict" -m "$T/m.fcn" --threads "$THREADS" \
	"$T/data.st" >/dev/null
end=$(date +%s.%N)
pred_ips=$(echo "$N $start $end" | awk '{printf "%.3f", $1 / ($3 - $2)}')

cat >"$T/torch_ref.py" <<'PY'
import resource, sys, time
sys.path.insert(0, "tests/ref")
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, "bench")
from fcn_torch import FcnAlexNet
from stream import read_stream


mode, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(1)
recs = read_stream(path)
xs = [torch.from_numpy(r["image"].astype(np.float32))[None] for r in recs]
ys = [torch.from_numpy(r["label"].astype(np.int64)) for r in recs]
net = FcnAlexNet(1)
t = time.perf_counter()
if mode == "train":
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad],
                          lr=1e-4, momentum=0.9, weight_decay=5e-4)
    net.train()
    for x, y in zip(xs, ys):
        opt.zero_grad()
        out = net(x)
        F.cross_entropy(out, y).backward()
        opt.step()
else:
    net.eval()
    with torch.no_grad():
        for x in xs:
            net(x).argmax(1)
t = time.perf_counter() - t
print("%.3f %d" % (len(xs) / t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
PY
set -- $("$PYTHON" "$T/torch_ref.py" train "$T/data.st" "$THREADS")
torch_train_ips=$1 torch_train_kb=$2
set -- $("$PYTHON" "$T/torch_ref.py" predict "$T/data.st" "$THREADS")
torch_pred_ips=$1 torch_pred_kb=$2

echo "images=$N threads=$THREADS net=$NET size=256x256 batch=1"
echo "train_img_s=$train_ips torch_train_img_s=$torch_train_ips"
echo "predict_img_s=$pred_ips torch_predict_img_s=$torch_pred_ips"
echo "train_peak_kb=$(peak "$T/train.time") torch_train_peak_kb=$torch_train_kb"
echo "predict_peak_kb=$(peak "$T/pred.time") torch_predict_peak_kb=$torch_pred_kb"
awk -v a="$train_ips" -v b="$torch_train_ips" -v c="$pred_ips" -v d="$torch_pred_ips" \
    -v e="$(peak "$T/train.time")" -v f="$torch_train_kb" \
    -v g="$(peak "$T/pred.time")" -v h="$torch_pred_kb" \
    'BEGIN { printf "ratio_train_speed=%.2f\nratio_predict_speed=%.2f\nratio_train_memory=%.2f\nratio_predict_memory=%.2f\n", a / b, c / d, e / f, g / h }'
