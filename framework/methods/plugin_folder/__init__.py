"""Package under which plugins/*.py are imported, so any process (a sweep worker) can import them.

Its search path is the plugins folder named by HYDRATUNE_PLUGINS (set when the folder is
loaded, inherited by child processes), or <HYDRATUNE_ROOT>/plugins.
"""

import os
from pathlib import Path

__path__ = [
    os.environ.get("HYDRATUNE_PLUGINS")
    or str(Path(os.environ.get("HYDRATUNE_ROOT", ".")) / "plugins")
]
