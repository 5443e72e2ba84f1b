"""Model-backed and classical annotators: VLM, colour and OCR, resumable, with statuses.

Import the annotator you need (``annotators.color.ColorAnnotator``, ``annotators.vlm.VLMAnnotator``,
``annotators.ocr.OCRAnnotator``) and run it with :func:`annotators.base.annotate`; heavy libraries
(torch, transformers, rapidocr) load only with the annotator that needs them.
"""
