"""Export a finished run: merged safetensors or ONNX, each checked for parity."""
