"""Competitor label sources (Baidu image recognition, Google Vision) and their mapping."""
