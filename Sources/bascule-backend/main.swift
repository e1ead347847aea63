print("bascule-backend")
