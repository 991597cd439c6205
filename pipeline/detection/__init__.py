"""Deepfake detectors over our corpora: face crops, training, evaluation, scoring, the attack measured.

An application room: it uses the face stages (detect -> landmarks -> align) to cut crops and the
networks of ``models.detectors``; the CLI (``facepipe detector``) is a thin layer over it.
"""
