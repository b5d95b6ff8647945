//! Acting on traffic inline: listener → session/<protocol> → decide (asks `rules`) →
//! mask/limit → audit (events into the analyzer's spool). Not built yet: `tianmu firewall`
//! says so.
