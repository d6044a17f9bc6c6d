"""What ``import s2s`` loads: jaxlib, SciPy and importlib.metadata wait until they are used."""
import json
import os
import subprocess
import sys

# jaxlib: with the first jit call (eager-only users never load it); SciPy: with the
# first function that needs it; importlib.metadata: only to check an installed CUDA
# plugin's version. jax: never.
_DEFERRED = ("jaxlib", "scipy", "jax", "importlib.metadata")

_PROBE = """
import json, sys
before = set(sys.modules)
import s2s, s2s.numpy, s2s.scipy, s2s.nn, s2s.random
new = sorted(set(sys.modules) - before)
print(json.dumps(dict(s2s=s2s.__file__, new=new)))
"""


def test_import_s2s_loads_no_heavy_module():
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2S_")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "s2s" in result["new"], result  # the probe did import s2s here
    loaded = [m for m in result["new"] if any(m == d or m.startswith(d + ".") for d in _DEFERRED)]
    assert loaded == [], f"import s2s loaded {loaded}"
