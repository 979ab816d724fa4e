"""The SageMaker inference container: WebUI txt2img/img2img bodies run with diffusers (see README.md)."""
