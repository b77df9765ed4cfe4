"""Reference implementations the checks compare against, one module per chapter.

Chapter 01 has none here: its trusted answer is TransformerLens itself (a native
`TransformerBridge` with random weights), so the checks compare with the library the rest
of the course uses rather than with a second copy of the solutions.
"""
