print("souk-bench")
