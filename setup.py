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
    python_requires=">=3.10",
    install_requires=[
        "gast==0.7.0",
        "numpy==2.4.6",
        "scipy==1.17.1",
        f"jaxlib=={JAXLIB}",
        "ml_dtypes==0.6.0",
    ],
    extras_require={
        "test": ["pytest==9.0.3", "pytest-xdist==3.8.0", "hypothesis==6.155.2", *EXAMPLES],
        "examples": EXAMPLES,
        "compare": [f"jax=={JAXLIB}", "autograd==1.9.1", "opt_einsum==3.4.0"],
    },
)
