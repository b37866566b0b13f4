package main

func runConfig(env *cmdEnv, args []string) error {
	flags, names, err := parseArgs(args, flagSpec{"n": false})
	if err != nil {
		return err
	}
	cfg, err := loadConfig(env, flags)
	if err != nil {
		return err
	}
	return cfg.Print(env.stdout, names, flags["n"] != "")
}
