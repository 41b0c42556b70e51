#!/usr/bin/env python3
"""Makes a copy of spl-account-compression 1.0.0's sources build as an sBPF program for the
tree shapes Chainference uses.

Usage: shape-compression.py CRATE_DIR DEPTH:BUFFER...

Every instruction dispatches on the tree's (depth, buffer) over 38 shapes, each arm a
monomorphized copy of the concurrent Merkle tree's code; on sBPF a dispatch inlines to
thousands of instructions per arm and LLVM's BPF backend aborts with "Branch target out of
insn range". The program keeps the arms for the shapes given and refuses any other shape with its own
`ConcurrentMerkleTreeConstantsError`, as it does for shapes it never knew. The crate is made a
workspace of its own, with the sBPF builtins (`solana-compiler-builtins`) linked in.
"""

import pathlib
import re
import sys

crate = pathlib.Path(sys.argv[1])
shapes = [tuple(int(n) for n in arg.split(":")) for arg in sys.argv[2:]]
if not shapes:
    sys.exit("shape-compression: give at least one DEPTH:BUFFER")

macros = crate / "src/macros.rs"
text = macros.read_text()
arm = re.compile(r"^ *\((\d+), (\d+)\) => _merkle_tree_depth_size_apply_fn!\(\d+, \d+, \$\(\$arg\)\*\),\n", re.M)
known = {(int(d), int(b)) for d, b in arm.findall(text)}
missing = [shape for shape in shapes if shape not in known]
if missing:
    sys.exit(f"shape-compression: {macros} has no arm for {missing} (it has {sorted(known)})")
text = arm.sub(lambda m: m.group(0) if (int(m.group(1)), int(m.group(2))) in shapes else "", text)
macros.write_text(text)

manifest = crate / "Cargo.toml"
cargo = manifest.read_text()
cargo += '\n[workspace]\n\n[target.\'cfg(target_os = "solana")\'.dependencies]\nsolana-compiler-builtins = "0.3"\n'
cargo += '\n[profile.sbf]\ninherits = "release"\noverflow-checks = true\ncodegen-units = 1\n'
# Its own cfgs are Anchor's and the entrypoint macros' (`custom-heap`, `anchor-debug`): not ours to fix.
cargo += '\n[lints.rust]\nunexpected_cfgs = "allow"\n'
manifest.write_text(cargo)

lib = crate / "src/lib.rs"
source = lib.read_text()
lib.write_text(source + '\n#[cfg(target_os = "solana")]\nextern crate solana_compiler_builtins;\n')
print(f"shape-compression: shapes {shapes}")
