from django.urls import path

from checker.judge import judge

urlpatterns = [path("", judge, name="judge")]
