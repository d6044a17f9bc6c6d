"""s2s: source-to-source grad, jit and vmap for Python+NumPy, on XLA through jaxlib."""
from setuptools import find_packages, setup

# Versions are pinned to what the test suite ran against; jax (an optional
# comparison extra) must match jaxlib exactly.
JAXLIB = "0.10.2"
# What examples/ imports (data, progress bars, plots); the test extra installs them
# too, so that the examples' smoke tests run rather than skip.
EXAMPLES = ["scikit-learn==1.9.1", "matplotlib==3.11.2", "tqdm==4.70.1"]

setup(
    name="s2s",
    version="0.1.0",
    description="Composable grad/jit/vmap for Python+NumPy that emit readable source",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["s2s", "s2s.*"]),
    py_modules=["pytest_s2s"],
    python_requires=">=3.10",
    install_requires=[
        "gast==0.7.0",
        "numpy==2.4.6",
        "scipy==1.17.1",
        f"jaxlib=={JAXLIB}",
        "ml_dtypes==0.6.0",
    ],
    # The pytest plugin: generated source in failure reports (quiet unless s2s code fails).
    entry_points={"pytest11": ["pytest_s2s = pytest_s2s"]},
    extras_require={
        "test": ["pytest==9.0.3", "pytest-xdist==3.8.0", "pytest-timeout==2.4.0", "hypothesis==6.155.2", *EXAMPLES],
        "examples": EXAMPLES,
        "compare": [f"jax=={JAXLIB}", "autograd==1.9.1", "opt_einsum==3.4.0"],
        # NVIDIA GPUs: the CUDA PJRT plugin (and its CUDA libraries) at jaxlib's version;
        # s2s loads its library itself and never imports the plugin's (jax-importing) modules.
        "cuda12": [f"jax-cuda12-plugin[with-cuda]=={JAXLIB}", f"jax-cuda12-pjrt=={JAXLIB}"],
    },
)
