# gunicorn reads this file from the working directory. Survey links carry personal tokens:
# the access log must not keep them.
logger_class = "config.logging.RedactingGunicornLogger"
