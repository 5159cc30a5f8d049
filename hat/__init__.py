"""hat: how much does an action-recognition model look at the person, and how much at the scene?"""

__version__ = "0.1.0"
