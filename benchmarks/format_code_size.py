"""Line counts of the format and codec modules and their longest functions, for a checkout.

    python benchmarks/format_code_size.py [CHECKOUT ...]
"""
import ast
import sys
from pathlib import Path

MODULES = ["pixcodec/container.py", "pixcodec/codec.py", "pixcodec/adapt.py", "pixcodec/tune.py", "pixcodec/encoder/adapt.py",
           "pixcodec/encoder/tune.py", "pixcodec/two_part.py"]

for root in map(Path, sys.argv[1:] or ["."]):
    files = [root / m for m in MODULES if (root / m).exists()] + sorted((root / "pixcodec" / "pxc").glob("*.py"))
    total, functions = 0, []
    for f in files:
        source = f.read_text()
        total += len(source.splitlines())
        print(f"  {f.relative_to(root)}: {len(source.splitlines())}")
        functions += [(n.end_lineno - n.lineno + 1, f"{f.name}:{n.name}") for n in ast.walk(ast.parse(source))
                      if isinstance(n, ast.FunctionDef)]
    print(f"{root}: {total} lines; longest functions {sorted(functions, reverse=True)[:3]}")
