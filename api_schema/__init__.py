"""The REST and job contract, and the names every wing shares.

Two kinds of module live here:
- the contract as pydantic v2 models (`resources`, `jobs`, `payload`), shared by the Lambda handlers and the
  inference container;
- stdlib-only modules of shared names, which any part may import: the WebUI vocabulary (`samplers`,
  `controlnet_modes`, `preprocessors`, `model_types`, `prompt_tags`, `upscalers`, `webui_fields`, `support`,
  `images`), the bucket's layout (`s3_layout`) and the container's environment variables (`container_env`).

The client core imports none of it (it speaks plain JSON). The panel imports stdlib modules only
(`controlnet_modes`, `model_types`, `preprocessors`, `prompt_tags`, `samplers`), which the WebUI extension's
installer copies into the WebUI's Python (3.10, pydantic 1); the CLI and the control plane import the same ones.
"""
