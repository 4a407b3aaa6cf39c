"""rlkd: knowledge distillation with an RL-chosen curriculum, scaled out on Ray."""

__version__ = "0.1.0"
