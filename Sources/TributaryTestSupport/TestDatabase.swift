// test support arrives next
