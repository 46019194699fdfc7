"""The designs: the LLD and issue workflows, their prompts, what the models see of the repository, the template, the
mechanical gate, the review's verdict, and the offline stand-in."""
