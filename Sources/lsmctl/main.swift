print("lsmctl")
