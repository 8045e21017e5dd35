"""What a student is, apart from any service: its model files and how they are named and resolved
(``models``, ``model_refs``), the text contract it is trained and prompted with (``thought_text``),
how it generates (``generation``, ``vllm_options``) and how its thoughts are combined (``ensemble``)."""
