#!/usr/bin/env bash
# The GPU checks in one go, for a machine with CUDA and PyTorch (Django is not needed): the CUDA
# tests, the watermark's speed on the device, and 20 concurrent 1080p25 streams. PyAV must be
# importable for the last (docs/rendering.md). Logs and JSON go to $1 (default benchmarks/results).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results}
mkdir -p "$out" benchmarks/results
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch, cv2, numpy, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'opencv', cv2.__version__, 'numpy', numpy.__version__, 'av', av.__version__)" 2>&1 | tee -a "$out/gpu.txt"
timeout 150 python3 -m pytest -p no:django -p no:cacheprovider --noconftest -q -rs tests/watermark/test_cuda.py \
  2>&1 | tee "$out/test_cuda.log"
timeout 150 python3 benchmarks/watermark_speed.py --skip-reference --cuda-batches 32,64,128 --cuda-profile \
  2>&1 | tee "$out/watermark_speed.log"
cp benchmarks/results/watermark_speed.json "$out/" 2>/dev/null
# Made beforehand with --save-portraits where OpenCV 4 runs, when this machine's OpenCV has no cascades.
portraits=()
[ -f benchmarks/results/portraits.npz ] && portraits=(--portraits benchmarks/results/portraits.npz)
timeout 150 python3 benchmarks/gpu_streams.py --size 1920x1080 --streams 20 --device cuda --segments 2 \
  "${portraits[@]}" 2>&1 | tee "$out/gpu_streams.log"
cp benchmarks/results/gpu-streams-cuda-x20-veryfast.json "$out/" 2>/dev/null
exit 0
