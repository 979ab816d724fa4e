"""Stand-in of modules/scripts.py: the Script base class and what the WebUI's ScriptRunner does with it."""

from typing import Any

AlwaysVisible = object()
current_basedir = "."
scripts_data: list[Any] = []  # ScriptClassData(script_class, path, basedir, module) of every loaded script


def basedir() -> str:
    """The folder of the extension whose script is being loaded."""
    return current_basedir


class Script:
    args_from: int | None = None
    args_to: int | None = None
    alwayson = False
    is_txt2img = False
    is_img2img = False

    def title(self) -> str:
        raise NotImplementedError

    def show(self, is_img2img: bool) -> Any:
        return True

    def ui(self, is_img2img: bool) -> list[Any]:
        return []

    def after_component(self, component: Any, **kwargs: Any) -> None:
        pass


class ScriptRunner:
    def __init__(self) -> None:
        self.alwayson_scripts: list[Script] = []
        self.inputs: list[Any] = []

    def setup_ui(self, script: Script, is_img2img: bool) -> list[Any]:
        """As the WebUI does for each AlwaysVisible script: call ui(), note where its args sit."""
        script.alwayson = script.show(is_img2img) is AlwaysVisible
        script.is_img2img, script.is_txt2img = is_img2img, not is_img2img
        controls = script.ui(is_img2img)
        script.args_from, script.args_to = len(self.inputs), len(self.inputs) + len(controls)
        self.inputs += controls
        self.alwayson_scripts.append(script)
        return controls
