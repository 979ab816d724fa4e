"""The REST and job contract shared by the Lambda handlers and the inference container.

Pydantic v2 models only; the client core never imports this package (it speaks plain JSON).
"""
