"""A job that survives requeue: checkpoints atomically into $CPNET_CHECKPOINT_DIR, resumes from the newest.

Usage: python checkpointing_job.py [TOTAL_STEPS] [SECONDS_PER_STEP]
"""
import json, os, sys, time
from pathlib import Path

ckpt_dir = Path(os.environ.get("CPNET_CHECKPOINT_DIR", "checkpoints"))
ckpt_dir.mkdir(parents=True, exist_ok=True)
total, step_s = int(sys.argv[1]) if len(sys.argv) > 1 else 100, float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
newest = sorted(ckpt_dir.glob("step-*.json"))  # zero-padded names sort by step
state = json.loads(newest[-1].read_text()) if newest else {"step": 0, "loss": 1.0}
node = os.environ.get("CPNET_NODE_ID", "local")[:12]
print(f"attempt {os.environ.get('CPNET_ATTEMPT', '1')} on node {node}: resuming at step {state['step']}", flush=True)
while state["step"] < total:
    time.sleep(step_s)  # stands for one training step
    state = {"step": state["step"] + 1, "loss": round(state["loss"] * 0.99, 6)}
    tmp = ckpt_dir / f".step-{state['step']:08d}.tmp"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, ckpt_dir / f"step-{state['step']:08d}.json")  # atomic: never a half-written checkpoint
    for old in sorted(ckpt_dir.glob("step-*.json"))[:-2]:  # keep the newest two
        old.unlink(missing_ok=True)
print(f"done on node {node}: step {state['step']} loss {state['loss']}", flush=True)
