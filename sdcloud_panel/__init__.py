"""The "Amazon SageMaker Inference" panel: one gradio implementation, hosted by the WebUI extension
(`webui_extension/`) and by the standalone page (`sdcloud_panel.standalone.launch`, `sdcloud ui`).

It sits on the client core only and uses gradio API that exists both in 3.41.2 (the WebUI's pin) and in
current gradio.
"""
