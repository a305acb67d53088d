"""AI services that work offline. (Filled in by the AI module.)"""
