using BenchmarkDotNet.Running;

// Pick benchmarks on the command line, e.g. `-- --filter '*' --job short`.
BenchmarkSwitcher.FromAssembly(typeof(Holdfast.Benchmarks.RecordEncodeBenchmarks).Assembly).Run(args);
