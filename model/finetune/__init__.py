"""Fine-tuning JARVIS-VLA on recorded play: episodes -> SFT records (``sft_data``) and training."""
