"""torch -> ONNX: checked exports with metadata and a config-hash cache (:mod:`.onnx_export`)."""
