// Command sidekick receives KubeArmor events and fans them out. STUB.
package main

func main() {}
