# Mean and maximum rainfall per decade, written as CSV.
args <- commandArgs(trailingOnly = TRUE)
rain <- read.csv(args[1])
rain$decade <- 10 * (rain$year %/% 10)
by_decade <- aggregate(mm ~ decade, data = rain, FUN = function(x) c(mean = mean(x), max = max(x)))
out <- data.frame(decade = by_decade$decade, mean_mm = round(by_decade$mm[, "mean"], 1), max_mm = by_decade$mm[, "max"])
dir.create(dirname(args[2]), recursive = TRUE, showWarnings = FALSE)
write.csv(out, args[2], row.names = FALSE)
