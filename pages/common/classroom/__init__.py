"""What a class shares: publishing runs to the gallery, the teacher's controls."""
