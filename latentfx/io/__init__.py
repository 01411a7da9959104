"""Files latentfx writes: atomic writes, output path checks, manifests, and the tagged
.safetensors container of stores and vectors."""
