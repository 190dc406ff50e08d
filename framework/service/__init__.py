"""Fine-tuning as a service: an OpenAI-compatible files/jobs/chat API over hydratune runs."""
